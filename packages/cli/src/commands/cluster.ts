import { Command, Option } from '@commander-js/extra-typings';
import {
  type CaRotationProgress,
  ClusterSettings,
  ClusterSettings_SecurityProfile,
  ClusterSettings_Strategy,
  type ControlServiceClient,
  type GetClusterResponse,
} from '@flotilla/api';
import { cliConfigDir, StateDir } from '@flotilla/pki';
import { parseDuration } from '@flotilla/stack';
import { formatCertExpiry, parseCertExpiry } from '../cert-expiry.js';
import { call, controlClient } from '../control-client.js';
import { usageError } from '../exit-codes.js';
import type { Io } from '../io.js';
import { operatorCertificate } from '../operator-certificate.js';
import { addBackupCommands } from './cluster-backup.js';

/** `cluster inspect|update`: the settings every manager works from, like `docker swarm update`. */
export function clusterCommand(io: Io, client: () => ControlServiceClient = () => controlClient()): Command {
  const cluster = new Command('cluster').description('show and change cluster-wide settings');

  cluster
    .command('inspect')
    .description('show the cluster and its settings as JSON')
    .action(async () => {
      const c = client();
      const found = await call(c, c.getCluster, {}).finally(() => c.close());
      const settings = found.settings ? ClusterSettings.toJSON(found.settings) : {};
      const certExpiry = formatCertExpiry(Number(found.settings?.certExpiryMs || 90n * 86_400_000n));
      const shown = {
        id: found.id,
        createdAtMs: Number(found.createdAtMs),
        settings,
        certExpiry,
        securityProfile: PROFILE_NAMES[found.settings?.securityProfile ?? 0] ?? 'baseline',
        allowedBindPrefixes: found.settings?.allowedBindPrefixes ?? [],
        operator: ownOperator(),
        warnings: found.warnings,
        ca: caShown(found),
      };
      io.out(`${JSON.stringify(shown, null, 2)}\n`);
      for (const warning of found.warnings) io.err(`warning: ${warning}\n`);
    });

  cluster
    .command('update')
    .description('change settings; unnamed ones keep their value')
    .addOption(
      new Option('--placement-strategy <STRATEGY>', 'spread tasks out or fill nodes').choices([
        'spread',
        'binpack',
      ] as const),
    )
    .option(
      '--self-fence-timeout <DURATION>',
      'a node cut off from every manager this long stops its tasks (below the heartbeat grace)',
    )
    .addOption(
      new Option('--rebalance <MODE>', 'even out services when a node joins or comes back').choices([
        'on',
        'off',
      ] as const),
    )
    .option('--task-history-limit <N>', 'ended tasks kept per slot')
    .option('--cert-expiry <DURATION>', 'life of new and renewed certificates, e.g. 90d, 2160h (at least 1m)')
    .addOption(
      new Option('--security-profile <PROFILE>', 'what deploys may ask of the nodes (admission policy)').choices([
        'privileged',
        'baseline',
        'restricted',
      ] as const),
    )
    .option(
      '--allow-bind <PREFIXES>',
      "comma-separated absolute host paths binds may use despite the profile; replaces the list ('' clears it)",
    )
    .action(async (opts) => {
      const request: Parameters<ControlServiceClient['updateCluster']>[0] = {};
      if (opts.placementStrategy) {
        request.placementStrategy =
          opts.placementStrategy === 'binpack'
            ? ClusterSettings_Strategy.STRATEGY_BINPACK
            : ClusterSettings_Strategy.STRATEGY_SPREAD;
      }
      if (opts.selfFenceTimeout !== undefined) {
        try {
          request.selfFenceTimeoutMs = parseDuration(opts.selfFenceTimeout) / 1_000_000n;
        } catch {
          throw usageError(`--self-fence-timeout: "${opts.selfFenceTimeout}" is not a duration such as 2s`);
        }
      }
      if (opts.rebalance) request.rebalanceDisabled = opts.rebalance === 'off';
      if (opts.taskHistoryLimit !== undefined) {
        const n = Number(opts.taskHistoryLimit);
        if (!Number.isInteger(n) || n < 0) throw usageError('--task-history-limit takes a whole number');
        request.taskHistoryLimit = n;
      }
      if (opts.certExpiry !== undefined) request.certExpiryMs = parseCertExpiry(opts.certExpiry);
      if (opts.securityProfile) request.securityProfile = PROFILES[opts.securityProfile];
      if (opts.allowBind !== undefined) request.allowedBindPrefixes = { prefixes: parseAllowBind(opts.allowBind) };
      const c = client();
      const { settings } = await call(c, c.updateCluster, request).finally(() => c.close());
      io.out(`${JSON.stringify(settings ? ClusterSettings.toJSON(settings) : {}, null, 2)}\n`);
    });

  addBackupCommands(cluster, io, client);
  cluster
    .command('revoke-operator')
    .description("revoke an operator (CLI) certificate by its ID (cluster inspect shows this CLI's)")
    .argument('<ID>', 'the operator ID')
    .action(async (id) => {
      const c = client();
      await call(c, c.revokeOperator, { operatorId: id }).finally(() => c.close());
      io.out(`${id}\n`);
    });

  cluster
    .command('ca')
    .description('rotate the cluster CA: every node and manager moves to a new CA, no task stopped')
    .option('--rotate', 'start a rotation (cluster inspect shows its progress)')
    .option('--force', 'with --rotate: end the rotation under way now (nodes not renewed yet must join again)')
    .action(async (opts) => {
      if (!opts.rotate) throw usageError('cluster ca takes --rotate (and --force to end a rotation under way)');
      const c = client();
      const { rotation } = await call(c, c.rotateCa, { force: opts.force === true }).finally(() => c.close());
      const shown = rotation ? caRotationShown(rotation) : {};
      io.out(`${JSON.stringify(opts.force ? { ended: shown } : { rotating: shown }, null, 2)}\n`);
    });

  return cluster;
}

const PROFILES = {
  privileged: ClusterSettings_SecurityProfile.SECURITY_PROFILE_PRIVILEGED,
  baseline: ClusterSettings_SecurityProfile.SECURITY_PROFILE_BASELINE,
  restricted: ClusterSettings_SecurityProfile.SECURITY_PROFILE_RESTRICTED,
} as const;

const PROFILE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(PROFILES).map(([name, value]) => [value, name]),
);

/** `--allow-bind /srv,/data`: absolute prefixes (the manager normalizes them); '' for none. */
function parseAllowBind(text: string): string[] {
  const prefixes = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const relative = prefixes.find((p) => !p.startsWith('/'));
  if (relative !== undefined) {
    throw usageError(`--allow-bind: "${relative}" is not an absolute host path: give prefixes such as /srv,/data`);
  }
  return prefixes;
}

/** The CA part of `cluster inspect`: its fingerprint and, during a rotation, where it stands. */
function caShown(found: Pick<GetClusterResponse, 'caFingerprint' | 'caRotation'>) {
  return {
    fingerprint: found.caFingerprint,
    ...(found.caRotation ? { rotation: caRotationShown(found.caRotation) } : {}),
  };
}

function caRotationShown(rotation: CaRotationProgress) {
  return {
    newFingerprint: rotation.newFingerprint,
    startedAt: new Date(Number(rotation.startedAtMs)).toISOString(),
    progress: `${rotation.renewed} of ${rotation.total} renewed`,
    pending: rotation.pendingIds,
  };
}

/** This CLI's own operator certificate (its ID, for revoke-operator), when its configuration holds one. */
function ownOperator(): { id: string; expiresAt: string } | undefined {
  try {
    return operatorCertificate(new StateDir(cliConfigDir()));
  } catch {
    return undefined;
  }
}
