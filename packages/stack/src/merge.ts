import type { LEntry, LMap, LNode, LScalar, LSeq } from './yaml/located.js';

/**
 * Merges override files into a base the way Compose does: mappings merge key by key, scalars and commands are
 * replaced, key=value lists (environment, labels…) merge by key, unique resources (ports, volumes, secrets,
 * configs) merge by their identity, and other lists are appended without duplicates. `!reset` removes a value
 * and `!override` replaces one instead of merging it. Every value keeps the place of the file that set it.
 */
export function mergeTrees(base: LNode, override: LNode): LNode {
  return merge(base, override, []) ?? { kind: 'map', entries: new Map(), loc: base.loc };
}

type Rule = 'replace' | 'key-value' | 'unique' | 'named-map' | 'depends-on' | 'append' | 'sequence';

/** Path patterns (with `*` for any name) whose values need a rule other than the default. */
const RULES: [string, Rule][] = [
  ['services.*.command', 'replace'],
  ['services.*.entrypoint', 'replace'],
  ['services.*.healthcheck.test', 'replace'],
  // One probe kind at a time: an override's probe replaces the base's rather than adding a second kind.
  ['services.*.healthcheck.x-flotilla-probe', 'replace'],
  ['services.*.environment', 'key-value'],
  ['services.*.labels', 'key-value'],
  ['services.*.sysctls', 'key-value'],
  ['services.*.annotations', 'key-value'],
  ['services.*.deploy.labels', 'key-value'],
  ['services.*.logging.options', 'key-value'],
  ['networks.*.labels', 'key-value'],
  ['volumes.*.labels', 'key-value'],
  ['configs.*.labels', 'key-value'],
  ['secrets.*.labels', 'key-value'],
  ['services.*.ports', 'unique'],
  ['services.*.volumes', 'unique'],
  ['services.*.secrets', 'unique'],
  ['services.*.configs', 'unique'],
  ['services.*.networks', 'named-map'],
  // One value or a list of them: one value is a list of one, and lists are appended.
  ['services.*.env_file', 'sequence'],
  ['services.*.label_file', 'sequence'],
  ['services.*.dns', 'sequence'],
  ['services.*.dns_search', 'sequence'],
  ['services.*.dns_opt', 'sequence'],
  ['services.*.tmpfs', 'sequence'],
  ['services.*.depends_on', 'depends-on'],
];

function ruleFor(path: string[]): Rule | undefined {
  outer: for (const [pattern, rule] of RULES) {
    const parts = pattern.split('.');
    if (parts.length !== path.length) continue;
    for (let i = 0; i < parts.length; i++) if (parts[i] !== '*' && parts[i] !== path[i]) continue outer;
    return rule;
  }
  return undefined;
}

function merge(base: LNode | undefined, over: LNode, path: string[]): LNode | undefined {
  if (over.tag === '!reset') return undefined;
  if (over.tag === '!override' || !base) return stripTag(over);
  const rule = ruleFor(path);
  if (rule === 'replace') return over;
  if (rule === 'key-value') return mergeMaps(asKeyValueMap(base), asKeyValueMap(over), path);
  if (rule === 'named-map') return mergeMaps(asNamedMap(base), asNamedMap(over), path);
  if (rule === 'depends-on') return mergeMaps(asDependsOnMap(base), asDependsOnMap(over), path);
  if (rule === 'sequence') return appendUnique(asSequence(base), asSequence(over));
  if (base.kind === 'map' && over.kind === 'map') return mergeMaps(base, over, path);
  if (base.kind === 'seq' && over.kind === 'seq') {
    return rule === 'unique' ? mergeUnique(base, over, path) : appendUnique(base, over);
  }
  return over;
}

function asSequence(node: LNode): LSeq {
  return node.kind === 'seq' ? node : { kind: 'seq', items: [node], loc: node.loc };
}

function stripTag<T extends LNode>(node: T): T {
  if (!node.tag) return node;
  const { tag: _tag, ...rest } = node;
  return rest as T;
}

function mergeMaps(base: LNode, over: LNode, path: string[]): LNode {
  if (base.kind !== 'map' || over.kind !== 'map') return over;
  const entries = new Map(base.entries);
  for (const [key, entry] of over.entries) {
    const merged = merge(entries.get(key)?.value, entry.value, [...path, key]);
    if (merged === undefined) entries.delete(key);
    else entries.set(key, { key, keyLoc: entry.keyLoc, value: merged });
  }
  return { ...over, entries };
}

function appendUnique(base: LSeq, over: LSeq): LSeq {
  const seen = new Set(base.items.map(identity));
  const items = [...base.items];
  for (const item of over.items) {
    const id = identity(item);
    if (item.kind === 'scalar' && seen.has(id)) continue;
    seen.add(id);
    items.push(item);
  }
  return { ...over, items };
}

/** Items of the override replace base items with the same identity (a port, a mount target, a secret). */
function mergeUnique(base: LSeq, over: LSeq, path: string[]): LSeq {
  const kind = path[path.length - 1] ?? '';
  const keyOf = (node: LNode) => resourceKey(kind, node);
  const items = [...base.items];
  for (const item of over.items) {
    const key = keyOf(item);
    const at = items.findIndex((existing) => keyOf(existing) === key);
    if (at >= 0) items[at] = item;
    else items.push(item);
  }
  return { ...over, items };
}

function resourceKey(kind: string, node: LNode): string {
  if (node.kind === 'scalar') {
    const text = String(node.value);
    if (kind === 'volumes') {
      // short syntax SOURCE:TARGET[:MODE] or just TARGET
      const parts = text.split(':');
      return `target=${parts.length >= 2 ? parts[1] : parts[0]}`;
    }
    if (kind === 'secrets' || kind === 'configs') return `source=${text}`;
    return `raw=${text}`;
  }
  if (node.kind !== 'map') return `raw=${identity(node)}`;
  const field = (name: string) => {
    const v = node.entries.get(name)?.value;
    return v?.kind === 'scalar' ? String(v.value ?? '') : '';
  };
  if (kind === 'volumes') return `target=${field('target')}`;
  if (kind === 'secrets' || kind === 'configs') return `source=${field('source')}`;
  if (kind === 'ports') {
    return `port=${field('host_ip')}:${field('published')}:${field('target')}/${field('protocol') || 'tcp'}`;
  }
  return `raw=${identity(node)}`;
}

function identity(node: LNode): string {
  return JSON.stringify(plainish(node));
}

function plainish(node: LNode): unknown {
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'seq') return node.items.map(plainish);
  return Object.fromEntries([...node.entries].map(([k, e]) => [k, plainish(e.value)]));
}

/**
 * A short-syntax list of scalars as the equivalent map, so a list in one file and a map in another merge by key.
 * `entry` turns one item's text into its key and value; a list holding anything but scalars is left as it is.
 */
function listAsMap(node: LNode, entry: (text: string, at: LScalar) => [string, LNode]): LNode {
  if (node.kind !== 'seq') return node;
  const entries = new Map<string, LEntry>();
  for (const item of node.items) {
    if (item.kind !== 'scalar') return node;
    const [key, value] = entry(String(item.value ?? ''), item);
    entries.set(key, { key, keyLoc: item.loc, value });
  }
  return { kind: 'map', entries, loc: node.loc } satisfies LMap;
}

const scalarAt = (at: LScalar, value: string | null): LScalar => ({ kind: 'scalar', value, loc: at.loc });

/** `["A=1", "B"]` → `{A: "1", B: null}`. */
const asKeyValueMap = (node: LNode) =>
  listAsMap(node, (text, at) => {
    const eq = text.indexOf('=');
    return eq < 0 ? [text, scalarAt(at, null)] : [text.slice(0, eq), scalarAt(at, text.slice(eq + 1))];
  });

/** `[front, back]` → `{front: null, back: null}`. */
const asNamedMap = (node: LNode) => listAsMap(node, (text, at) => [text, scalarAt(at, null)]);

/** `[db]` → `{db: {condition: service_started}}`, the long form Compose prints. */
const asDependsOnMap = (node: LNode) =>
  listAsMap(node, (text, at) => {
    const condition: LEntry = { key: 'condition', keyLoc: at.loc, value: scalarAt(at, 'service_started') };
    return [text, { kind: 'map', entries: new Map([['condition', condition]]), loc: at.loc }];
  });
