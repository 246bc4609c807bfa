import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { Command, Option } from '@commander-js/extra-typings';
import { Code, type ControlServiceClient, FileObjectKind, FileObjectView, FlotillaError } from '@flotilla/api';
import { clientScope, labelMap, removeEach } from '../command-helpers.js';
import { call, controlClient } from '../control-client.js';
import { usageError } from '../exit-codes.js';
import type { Io } from '../io.js';
import { ago, listingFormatOption, table } from '../table.js';

/**
 * The most a secret or config may hold, as the managers refuse it (MAX_FILE_OBJECT_BYTES): checked here too, so a
 * large file is refused before it is read whole or sent.
 */
export const MAX_CONTENT_BYTES = 500 * 1024;

type Word = 'secret' | 'config';

const collect = (value: string, previous: string[]) => [...previous, value];

/** `flotilla secret …` */
export function secretCommand(io: Io, client: () => ControlServiceClient = () => controlClient()): Command {
  return fileObjectCommand('secret', io, client);
}

/** `flotilla config …` */
export function configCommand(io: Io, client: () => ControlServiceClient = () => controlClient()): Command {
  return fileObjectCommand('config', io, client);
}

/**
 * Secrets and configs, as the docker CLI manages them: create from a file or stdin, list, inspect (metadata
 * only; a config's content with --pretty), remove. A secret's content never comes back.
 */
function fileObjectCommand(word: Word, io: Io, client: () => ControlServiceClient): Command {
  const kind = word === 'secret' ? FileObjectKind.FILE_OBJECT_KIND_SECRET : FileObjectKind.FILE_OBJECT_KIND_CONFIG;
  const command = new Command(word).description(
    word === 'secret'
      ? 'manage secrets: contents stored encrypted, given only to the tasks that use them'
      : 'manage configs: files given to the tasks that use them',
  );
  const withClient = clientScope(client);

  command
    .command('create')
    .description(`create a ${word} from a file, or from standard input with -`)
    .argument('<NAME>', `the ${word}'s name`)
    .argument('<FILE>', 'the file that holds the content, or - for standard input')
    .addOption(new Option('-l, --label <KEY=VALUE>', 'a label; repeatable').argParser(collect).default([] as string[]))
    .action(async (name, file, opts) => {
      const labels = labelMap('--label', opts.label);
      const data = await readContent(file, word, io);
      const { object } = await withClient((c) => call(c, c.createFileObject, { kind, name, labels, data }));
      io.out(`${object?.id ?? ''}\n`);
    });

  command
    .command('ls')
    .description(`list ${word}s`)
    .option('-q, --quiet', 'print IDs only')
    .addOption(listingFormatOption())
    .action(async (opts) => {
      const { objects } = await withClient((c) => call(c, c.listFileObjects, { kind }));
      if (opts.quiet) {
        io.out(objects.map((o) => `${o.id}\n`).join(''));
        return;
      }
      if (opts.format === 'json') {
        io.out(`${JSON.stringify(objects.map(viewJson), null, 2)}\n`);
        return;
      }
      const rows = objects.map((o) => [
        o.id,
        o.name,
        String(o.version),
        o.stack || '-',
        ago(o.createdAtMs),
        o.usedBy.join(', '),
      ]);
      io.out(table(['ID', 'NAME', 'VERSION', 'STACK', 'CREATED', 'USED BY'], rows));
    });

  const inspect = command
    .command('inspect')
    .description(
      word === 'secret'
        ? 'show secrets as JSON: never their content'
        : 'show configs as JSON, or with --pretty as text with their content',
    )
    .argument('<NAME|ID...>', `${word} names (the newest version) or IDs`);
  if (word === 'config') inspect.option('--pretty', 'human-readable, with the content');
  inspect.action(async (refs: string[], opts: { pretty?: boolean }) => {
    const pretty = opts.pretty === true;
    const found = await withClient(async (c) => {
      const out = [];
      for (const nameOrId of refs) out.push(await call(c, c.getFileObject, { kind, nameOrId, reveal: pretty }));
      return out;
    });
    if (!pretty) {
      io.out(
        `${JSON.stringify(
          found.map((f) => (f.object ? viewJson(f.object) : null)),
          null,
          2,
        )}\n`,
      );
      return;
    }
    io.out(found.map((f) => prettyConfig(f.object as FileObjectView, Buffer.from(f.data))).join('\n'));
  });

  command
    .command('rm')
    .alias('remove')
    .description(`remove ${word}s (every version of a name); refused while a service uses one`)
    .argument('<NAME|ID...>', `${word} names or IDs`)
    .action(async (refs) => {
      await withClient((c) => removeEach(io, refs, (nameOrId) => call(c, c.removeFileObject, { kind, nameOrId })));
    });

  return command;
}

/** The content, from a file or stdin; refused over the limit without reading (or holding) all of it. */
async function readContent(file: string, word: Word, io: Io): Promise<Buffer> {
  const tooLarge = (size: string) =>
    new FlotillaError(
      Code.InvalidArgument,
      `${file === '-' ? 'standard input' : file}: ${size} is more than a ${word} may hold (${MAX_CONTENT_BYTES} bytes)`,
    );
  if (file === '-') {
    if (!io.stdin) throw usageError('standard input cannot be read here: give a file');
    const data = await io.stdin(MAX_CONTENT_BYTES);
    if (data.length > MAX_CONTENT_BYTES) throw tooLarge('it');
    return data;
  }
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new FlotillaError(
      Code.FailedPrecondition,
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new FlotillaError(Code.FailedPrecondition, `${file} is not a file: give a file, or -`);
    if (stat.size > MAX_CONTENT_BYTES) throw tooLarge(`${stat.size} bytes`);
    const data = Buffer.alloc(stat.size);
    let read = 0;
    while (read < data.length) {
      const n = readSync(fd, data, read, data.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return data.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function viewJson(view: FileObjectView): unknown {
  return FileObjectView.toJSON(view);
}

/** As `docker config inspect --pretty` shows a config. */
function prettyConfig(view: FileObjectView, data: Buffer): string {
  const labels = Object.entries(view.labels);
  const lines = [
    `ID:\t\t${view.id}`,
    `Name:\t\t${view.name}`,
    ...(labels.length ? ['Labels:', ...labels.map(([k, v]) => ` - ${k}=${v}`)] : []),
    `Version:\t${view.version}`,
    ...(view.stack ? [`Stack:\t\t${view.stack}`] : []),
    `Created at:\t${new Date(Number(view.createdAtMs)).toISOString()}`,
    ...(view.usedBy.length ? [`Used by:\t${view.usedBy.join(', ')}`] : []),
    'Data:',
    data.toString(),
  ];
  const text = lines.join('\n');
  return text.endsWith('\n') ? text : `${text}\n`;
}
