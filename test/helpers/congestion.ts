/**
 * What a server's `tcpCongestion` option should give a connection from this host: each choice
 * with the algorithm the connection then uses (block/tcp-congestion.ts).
 */
import fs from 'node:fs';

export function congestionCases(): (readonly [choice: string, expected: string])[] {
  const system = fs.readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim();
  return [
    ['reno', 'reno'],
    ['system', system],
    ['auto', system === 'bbr' ? 'cubic' : system],
  ];
}
