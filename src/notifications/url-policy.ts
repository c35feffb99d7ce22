/**
 * Where notifications may go. A merchant chooses the URL, so without a check a merchant
 * could make our workers POST to our own network: the cloud metadata service, the
 * database's admin port, the Stripe sandbox's control API. Loopback, private, link-local
 * and other non-public addresses are refused unless the deployment allows them (a laptop
 * running everything, where the receiver is on localhost).
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

/** True for an address our workers must not be sent to by a merchant. */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  // IPv4 written inside IPv6 (::ffff:127.0.0.1) is the IPv4 address.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return NON_PUBLIC.check(mapped, 'ipv4');
  return NON_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** The URL's host without the brackets of an IPv6 literal. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * The check when a URL is saved: literal addresses and `localhost` only, so that saving
 * never depends on DNS. Null when the URL may be saved, else the reason.
 */
export function refusedAtSave(url: URL): string | null {
  const host = hostOf(url).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return 'localhost is not reachable';
  return isNonPublicAddress(host) ? `${host} is not a public address` : null;
}

/**
 * The check before each delivery: every address the name resolves to must be public, as
 * a name can point inside the network whatever it looked like when saved. Null when the
 * delivery may go ahead, else the reason. Known gap: the POST resolves the name again, so
 * a name that changes its answer between the two lookups gets through; sending deliveries
 * through an egress proxy, or pinning the resolved address, closes it.
 */
export async function refusedAtDelivery(url: URL): Promise<string | null> {
  const atSave = refusedAtSave(url);
  if (atSave !== null) return atSave;
  const host = hostOf(url);
  if (isIP(host) !== 0) return null;
  const addresses = await lookup(host, { all: true });
  const inside = addresses.find((entry) => isNonPublicAddress(entry.address));
  return inside === undefined ? null : `${host} resolves to ${inside.address}, not public`;
}
