import { PortConfig_Protocol } from '@flotilla/api';

/**
 * A host port as one number, (protocol, published port) → protocol * 65536 + port, so a node's used ports fit in a
 * Map<number, …> and a lookup allocates nothing.
 */
export function portKey(protocol: PortConfig_Protocol, port: number): number {
  // Compose and Swarm default to tcp when no protocol is given.
  const p = protocol === PortConfig_Protocol.PROTOCOL_UNSPECIFIED ? PortConfig_Protocol.PROTOCOL_TCP : protocol;
  return p * 65536 + port;
}

/** "8080/tcp", as users write it. */
export function portLabel(key: number): string {
  const port = key % 65536;
  const protocol = (key - port) / 65536;
  const name =
    protocol === PortConfig_Protocol.PROTOCOL_UDP
      ? 'udp'
      : protocol === PortConfig_Protocol.PROTOCOL_SCTP
        ? 'sctp'
        : 'tcp';
  return `${port}/${name}`;
}
