/*
 * The board: one column per node with its tasks' cards, grouped by service, and a column of unassigned tasks.
 * Past GRID_AFTER nodes the columns become cells of a dense grid with small cards. Columns and cards are
 * memoised on their objects: a stream batch redraws only the columns it touched.
 */

import type { TargetedKeyboardEvent } from 'preact';
import { memo } from 'preact/compat';
import { useEffect, useState } from 'preact/hooks';
import type { UiNode, UiTask } from '../../model.js';
import type { Action } from './api.js';
import { bytes, cpus, nodeLook, ratio, taskLook } from './format.js';
import { UNASSIGNED } from './state.js';

/** More nodes than this do not fit side by side on a screen: they are drawn as a dense grid. */
export const GRID_AFTER = 12;

export type Layout = 'columns' | 'grid';

/**
 * Columns drawn per animation frame while the board first fills: a snapshot of 1,000 nodes and 10,000 tasks is
 * drawn in a few dozen short frames instead of one that freezes the page for a second or more.
 */
export const COLUMNS_PER_FRAME = 50;

export interface BoardProps {
  /** False until the first snapshot: the board is busy (aria-busy) until it has one and has drawn it all. */
  loaded: boolean;
  nodes: UiNode[];
  byNode: Map<string, UiTask[]>;
  layout: Layout;
  /** The card that Tab reaches (roving tabindex: one card in the tab order, arrows move among the rest). */
  activeTaskId: string;
  onActivate(taskId: string): void;
  onOpen(taskId: string): void;
  onAction(action: Action, what: string): void;
}

const NO_TASKS: UiTask[] = [];

export function Board(props: BoardProps) {
  const { nodes, byNode, layout, activeTaskId } = props;
  const unassigned = byNode.get(UNASSIGNED) ?? NO_TASKS;
  const onKeyDown = (event: TargetedKeyboardEvent<HTMLDivElement>) => moveFocus(event, props.onActivate);
  // How many node columns are drawn: grows a frame at a time up to all of them, and never shrinks, so once the
  // board is full an update redraws only what changed.
  const [drawn, setDrawn] = useState(COLUMNS_PER_FRAME);
  useEffect(() => {
    if (drawn >= nodes.length) return;
    const frame = requestAnimationFrame(() => setDrawn((n) => n + COLUMNS_PER_FRAME));
    return () => cancelAnimationFrame(frame);
  }, [drawn, nodes.length]);
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: arrow keys from the cards (each a role=button) bubble here
    <div
      class={`board board-${layout}`}
      data-layout={layout}
      aria-busy={!props.loaded || drawn < nodes.length ? 'true' : 'false'}
      onKeyDown={onKeyDown}
    >
      {unassigned.length > 0 && (
        <Column
          node={undefined}
          tasks={unassigned}
          layout={layout}
          activeTaskId={unassigned.some((t) => t.id === activeTaskId) ? activeTaskId : ''}
          onActivate={props.onActivate}
          onOpen={props.onOpen}
          onAction={props.onAction}
        />
      )}
      {(drawn >= nodes.length ? nodes : nodes.slice(0, drawn)).map((node) => {
        const tasks = byNode.get(node.id) ?? NO_TASKS;
        return (
          <Column
            key={node.id}
            node={node}
            tasks={tasks}
            layout={layout}
            activeTaskId={tasks.some((t) => t.id === activeTaskId) ? activeTaskId : ''}
            onActivate={props.onActivate}
            onOpen={props.onOpen}
            onAction={props.onAction}
          />
        );
      })}
    </div>
  );
}

/** Arrow keys among cards: up/down within a column, left/right to the first card of the next column that has one. */
function moveFocus(event: TargetedKeyboardEvent<HTMLDivElement>, onActivate: (id: string) => void) {
  const keys = ['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Home', 'End'];
  if (!keys.includes(event.key)) return;
  const card = (event.target as HTMLElement).closest<HTMLElement>('[data-task-id]');
  if (!card) return;
  const column = card.closest<HTMLElement>('[data-column]');
  if (!column) return;
  let target: HTMLElement | null | undefined;
  if (event.key === 'ArrowUp' || event.key === 'ArrowDown' || event.key === 'Home' || event.key === 'End') {
    const cards = [...column.querySelectorAll<HTMLElement>('[data-task-id]')];
    const at = cards.indexOf(card);
    const index =
      event.key === 'Home' ? 0 : event.key === 'End' ? cards.length - 1 : at + (event.key === 'ArrowUp' ? -1 : 1);
    target = cards[index];
  } else {
    const columns = [...event.currentTarget.querySelectorAll<HTMLElement>('[data-column]')];
    const step = event.key === 'ArrowLeft' ? -1 : 1;
    for (let i = columns.indexOf(column) + step; i >= 0 && i < columns.length; i += step) {
      target = columns[i]?.querySelector<HTMLElement>('[data-task-id]');
      if (target) break;
    }
  }
  if (!target) return;
  event.preventDefault();
  const id = target.dataset.taskId;
  if (id) onActivate(id);
  target.focus();
}

interface ColumnProps {
  node: UiNode | undefined;
  tasks: UiTask[];
  layout: Layout;
  activeTaskId: string;
  onActivate(taskId: string): void;
  onOpen(taskId: string): void;
  onAction(action: Action, what: string): void;
}

const Column = memo(function Column(props: ColumnProps) {
  const { node, tasks, layout, activeTaskId } = props;
  const look = node ? nodeLook(node.status) : undefined;
  const groups = groupByService(tasks);
  const columnProps = node
    ? {
        'data-node-id': node.id,
        'data-status': node.status,
        'data-availability': node.availability,
        'aria-label': `Node ${node.hostname}: ${node.status}, ${node.availability}, ${tasks.length} tasks`,
      }
    : { 'data-unassigned': '', 'aria-label': `Unassigned: ${tasks.length} tasks waiting for a node` };
  return (
    // An article, not a section: a thousand named sections would be a thousand landmarks to a screen reader.
    <article class={`column${look?.down ? ' down' : ''}`} data-column="" {...columnProps}>
      {node ? <NodeHeader node={node} layout={layout} onAction={props.onAction} /> : <UnassignedHeader />}
      <div class="cards">
        {groups.map(([serviceName, group]) => (
          // biome-ignore lint/a11y/useSemanticElements: a fieldset is for form controls, this groups cards
          <div class="group" role="group" aria-label={serviceName} key={serviceName}>
            {layout === 'columns' && (
              <div class="group-name" aria-hidden="true">
                {serviceName}
              </div>
            )}
            {group.map((task) => (
              <Card
                key={task.id}
                task={task}
                layout={layout}
                tabbable={task.id === activeTaskId}
                onActivate={props.onActivate}
                onOpen={props.onOpen}
              />
            ))}
          </div>
        ))}
      </div>
    </article>
  );
});

function groupByService(tasks: UiTask[]): [string, UiTask[]][] {
  const groups: [string, UiTask[]][] = [];
  for (const task of tasks) {
    const last = groups[groups.length - 1];
    if (last && last[0] === task.serviceName) last[1].push(task);
    else groups.push([task.serviceName, [task]]);
  }
  return groups;
}

function UnassignedHeader() {
  return (
    <header class="node-head">
      <h3 class="node-name">Unassigned</h3>
      <p class="node-meta">Tasks waiting for a node</p>
    </header>
  );
}

function NodeHeader({ node, layout, onAction }: { node: UiNode; layout: Layout; onAction: ColumnProps['onAction'] }) {
  const look = nodeLook(node.status);
  const labels = Object.entries(node.labels);
  const role = node.role === 'manager' ? `manager${node.managerStatus ? ` (${node.managerStatus})` : ''}` : 'worker';
  return (
    <header class="node-head">
      <h3 class="node-name" title={node.hostname}>
        <span class={`status-icon ${look.down ? 'bad' : node.status === 'ready' ? 'ok' : 'busy'}`} aria-hidden="true">
          {look.icon}
        </span>{' '}
        {node.hostname}
      </h3>
      <p class="node-meta">
        <span class="word">{node.status}</span> · <span class="word">{node.availability}</span>
        {layout === 'columns' && <> · {role}</>}
      </p>
      {layout === 'columns' && (
        <>
          <p class="node-meta mono" title={node.address}>
            {node.address || '—'}
          </p>
          <p class="labels" title={labels.map(([k, v]) => `${k}=${v}`).join('\n')}>
            {labels.length === 0
              ? 'no labels'
              : labels.map(([k, v]) => (
                  <span class="label" key={k}>
                    {k}={v}
                  </span>
                ))}
          </p>
        </>
      )}
      <Bar
        name="CPU"
        part={node.reserved.nanoCpus}
        whole={node.capacity.nanoCpus}
        text={`${cpus(node.reserved.nanoCpus)} / ${cpus(node.capacity.nanoCpus)}`}
      />
      <Bar
        name="Memory"
        part={node.reserved.memoryBytes}
        whole={node.capacity.memoryBytes}
        text={`${bytes(node.reserved.memoryBytes)} / ${bytes(node.capacity.memoryBytes)}`}
      />
      <div class="node-actions">
        {node.availability !== 'drain' && (
          <button
            type="button"
            data-action="drain"
            aria-label={`Drain node ${node.hostname}`}
            onClick={() => onAction({ kind: 'drain', nodeId: node.id }, `Drain node ${node.hostname}`)}
          >
            Drain
          </button>
        )}
        {node.availability !== 'active' && (
          <button
            type="button"
            data-action="activate"
            aria-label={`Activate node ${node.hostname}`}
            onClick={() => onAction({ kind: 'activate', nodeId: node.id }, `Activate node ${node.hostname}`)}
          >
            Activate
          </button>
        )}
      </div>
    </header>
  );
}

function Bar({ name, part, whole, text }: { name: string; part: number; whole: number; text: string }) {
  const fraction = ratio(part, whole);
  return (
    <div class="bar" role="img" aria-label={`${name} reserved: ${text}`} title={`${name} reserved: ${text}`}>
      <span class="bar-name" aria-hidden="true">
        {name === 'Memory' ? 'MEM' : name}
      </span>
      <span class="bar-track" aria-hidden="true">
        <span class={`bar-fill${fraction > 0.9 ? ' high' : ''}`} style={{ width: `${fraction * 100}%` }} />
      </span>
      <span class="bar-text" aria-hidden="true">
        {text}
      </span>
    </div>
  );
}

interface CardProps {
  task: UiTask;
  layout: Layout;
  tabbable: boolean;
  onActivate(taskId: string): void;
  onOpen(taskId: string): void;
}

const Card = memo(function Card({ task, layout, tabbable, onActivate, onOpen }: CardProps) {
  const look = taskLook(task);
  const label = `${task.name}: ${look.label}`;
  return (
    // biome-ignore lint/a11y/useSemanticElements: a card holds text blocks a <button> would flatten
    <div
      class={`card tone-${look.tone}`}
      role="button"
      tabIndex={tabbable ? 0 : -1}
      data-task-id={task.id}
      data-state={task.state}
      data-health={task.health}
      data-service-id={task.serviceId}
      aria-label={label}
      title={label}
      onClick={() => {
        onActivate(task.id);
        onOpen(task.id);
      }}
      onFocus={() => onActivate(task.id)}
      onKeyDown={(event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          onOpen(task.id);
        }
      }}
    >
      <span class="card-icon" aria-hidden="true">
        {look.icon}
      </span>
      {layout === 'columns' && (
        <span class="card-text" aria-hidden="true">
          <span class="card-name">{task.slot > 0 ? `${task.serviceName}.${task.slot}` : task.name}</span>
          <span class="card-state">{look.label}</span>
        </span>
      )}
    </div>
  );
});
