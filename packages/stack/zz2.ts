import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';

const text = readFileSync(process.argv[2]!, 'utf8');
try {
  yaml.load(text, {
    schema: yaml.CORE_SCHEMA.extend(
      ['!reset', '!override'].flatMap((tag) =>
        (['scalar', 'sequence', 'mapping'] as const).map((kind) => new yaml.Type(tag, { kind, construct: (d) => d })),
      ),
    ),
  });
  console.log('loads');
} catch (e) {
  console.log((e as Error).message);
}
