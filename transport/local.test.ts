import { LocalBus, LocalTransport } from './local.ts';
import { describeTransport } from './transport.contract.ts';

const bus = new LocalBus();
describeTransport('local', async () => new LocalTransport(bus));
