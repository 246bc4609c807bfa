import {
  type FieldChange,
  FileObjectKind,
  type PlannedFileObject,
  PlannedFileObject_Action,
  type PlannedService,
  PlannedService_Action,
  PlannedService_Tasks,
  PlanStackResponse,
} from '@flotilla/api';

const MARKS: Record<number, [string, string]> = {
  [PlannedService_Action.ACTION_CREATE]: ['+', 'create'],
  [PlannedService_Action.ACTION_UPDATE]: ['~', 'update'],
  [PlannedService_Action.ACTION_REMOVE]: ['-', 'remove'],
  [PlannedService_Action.ACTION_UNCHANGED]: ['=', 'unchanged'],
};

/** `stack deploy --dry-run`: one line per service, the changed fields under each update, then what stays pending. */
export function formatPlan(stack: string, plan: PlanStackResponse, format: 'text' | 'json'): string {
  if (format === 'json') return `${JSON.stringify(PlanStackResponse.toJSON(plan), null, 2)}\n`;
  const width = Math.max(0, ...plan.services.map((s) => s.name.length)) + 2;
  const lines = [`Plan for stack ${stack} (nothing was changed):`];
  for (const s of plan.services) {
    const [mark, word] = MARKS[s.action] ?? ['?', 'unknown'];
    lines.push(`  ${mark} ${s.name.padEnd(width)}${word.padEnd(8)} ${summary(s)}`.trimEnd());
    for (const c of s.changes) lines.push(`      ${change(c)}`);
  }
  if (plan.fileObjects.length > 0) {
    lines.push('Secrets and configs:');
    for (const o of plan.fileObjects) lines.push(`  ${fileObjectLine(stack, o)}`);
  }
  const pending = plan.services.flatMap((s) => s.pending.map((p) => ({ service: s.name, ...p })));
  const total = pending.reduce((n, p) => n + p.tasks, 0);
  if (total > 0) {
    const head = `${total} ${total === 1 ? 'task' : 'tasks'} would stay pending:`;
    const only = pending.length === 1 ? pending[0] : undefined;
    if (only) lines.push(`${head} ${only.service}: ${only.reason}`);
    else lines.push(head, ...pending.map((p) => `  ${p.service} ×${p.tasks}: ${p.reason}`));
  }
  return `${lines.join('\n')}\n`;
}

/** `~ secret db_password: new version 3 (content changed), rolls shop_db`: never the content. */
function fileObjectLine(stack: string, o: PlannedFileObject): string {
  const kind = o.kind === FileObjectKind.FILE_OBJECT_KIND_CONFIG ? 'config' : 'secret';
  const name = o.name.startsWith(`${stack}_`) ? o.name.slice(stack.length + 1) : o.name;
  const users = o.services.length > 0 ? o.services.join(', ') : 'no service';
  switch (o.action) {
    case PlannedFileObject_Action.ACTION_CREATE:
      return `+ ${kind} ${name}: version 1 (new), used by ${users}`;
    case PlannedFileObject_Action.ACTION_NEW_VERSION:
      return `~ ${kind} ${name}: new version ${o.versionAfter} (content changed), rolls ${users}`;
    case PlannedFileObject_Action.ACTION_EXTERNAL:
      return `= ${kind} ${name}: external, version ${o.versionAfter}, used by ${users}`;
    default:
      return `= ${kind} ${name}: version ${o.versionAfter} (unchanged)`;
  }
}

/** What happens to the service's tasks, and where new ones would go. */
function summary(s: PlannedService): string {
  switch (s.action) {
    case PlannedService_Action.ACTION_CREATE: {
      const count = s.replicasAfter ?? BigInt(sum(s));
      const what = `${s.replicasAfter === undefined ? 'global, ' : ''}${count} ${count === 1n ? 'task' : 'tasks'}`;
      return `${what}${placement(s)}`;
    }
    case PlannedService_Action.ACTION_UPDATE: {
      const parts: string[] = [];
      const scaled =
        s.replicasBefore !== undefined && s.replicasAfter !== undefined && s.replicasBefore !== s.replicasAfter
          ? `scaled ${s.replicasBefore} → ${s.replicasAfter}`
          : undefined;
      if (s.tasks === PlannedService_Tasks.TASKS_REPLACED) {
        parts.push(`tasks replaced (spec version ${s.specVersionBefore} → ${s.specVersionAfter})`);
        if (scaled) parts.push(scaled);
      } else if (scaled) {
        parts.push(`${scaled} (no task replaced)`);
      } else {
        parts.push('labels or update settings only (no task replaced)');
      }
      return `${parts.join(', ')}${placement(s)}`;
    }
    case PlannedService_Action.ACTION_REMOVE:
      return '(--prune)';
    default:
      return '';
  }
}

/** `: node-1 ×2, node-2 ×1, 2 pending`, or nothing when no task is added. */
function placement(s: PlannedService): string {
  const parts = s.placed.map((p) => `${p.hostname || p.nodeId} ×${p.tasks}`);
  const pending = s.pending.reduce((n, p) => n + p.tasks, 0);
  if (pending > 0) parts.push(`${pending} pending`);
  return parts.length > 0 ? `: ${parts.join(', ')}` : '';
}

function sum(s: PlannedService): number {
  return s.placed.reduce((n, p) => n + p.tasks, 0) + s.pending.reduce((n, p) => n + p.tasks, 0);
}

function change(c: FieldChange): string {
  const value = (v: string | undefined) => (v === undefined ? '(unset)' : v === '' ? '""' : v);
  return `${c.path}: ${value(c.before)} → ${value(c.after)}`;
}
