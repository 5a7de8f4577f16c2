// Branded ids: a queue name is not an exchange name is not a message id, even though all are strings.
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type QueueName = Brand<string, 'QueueName'>;
export type ExchangeName = Brand<string, 'ExchangeName'>;
export type MessageId = Brand<string, 'MessageId'>;
export type ConsumerTag = Brand<string, 'ConsumerTag'>;
export type NodeId = Brand<string, 'NodeId'>;
/** Position of a message in its queue's log; strictly increasing per queue. */
export type Seq = Brand<number, 'Seq'>;

export const asQueue = (s: string) => s as QueueName;
export const asExchange = (s: string) => s as ExchangeName;
export const asMessageId = (s: string) => s as MessageId;
export const asConsumerTag = (s: string) => s as ConsumerTag;
export const asNodeId = (s: string) => s as NodeId;
/** What a node id may be: it names subjects and folders. */
export const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const asSeq = (n: number) => n as Seq;
