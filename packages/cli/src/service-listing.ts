import {
  isJobMode,
  type PortConfig,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  type Service,
  ServiceMode,
  type ServiceSummary,
} from '@flotilla/api';
import { dockerService } from './output/docker-json.js';
import { rawServiceSummary, renderListing } from './output/listing.js';
import { table } from './table.js';
import { shortImage } from './task-table.js';

const MODE_WORDS: Partial<Record<ServiceMode, string>> = {
  [ServiceMode.SERVICE_MODE_REPLICATED]: 'replicated',
  [ServiceMode.SERVICE_MODE_GLOBAL]: 'global',
  [ServiceMode.SERVICE_MODE_REPLICATED_JOB]: 'replicated job',
  [ServiceMode.SERVICE_MODE_GLOBAL_JOB]: 'global job',
};

/**
 * Services as `docker stack services` lists them: ID NAME MODE REPLICAS IMAGE PORTS. JSON is the shape
 * `service ls --format json` prints.
 */
export function formatServiceListing(services: ServiceSummary[], format: string, quiet = false): string {
  if (format !== 'table') {
    const rows = () => services.map(dockerService);
    return renderListing({ format, kind: 'service', rows, raw: () => services.map(rawServiceSummary) });
  }
  if (quiet) return services.map((s) => `${s.service?.id ?? ''}\n`).join('');
  const rows = services.map(({ service: s, running, desired, completed, completions }) => [
    s?.id.slice(0, 12) ?? '',
    s?.spec?.annotations?.name ?? '',
    MODE_WORDS[s?.spec?.mode ?? ServiceMode.SERVICE_MODE_REPLICATED] ?? 'replicated',
    // Docker's form for jobs: running/max concurrent (completed/completions completed).
    isJobMode(s?.spec?.mode)
      ? `${running}/${desired} (${completed}/${completions} completed)`
      : `${running}/${desired}`,
    shortImage(s?.spec?.container?.image ?? ''),
    s ? ingressPorts(s) : '',
  ]);
  return table(['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'], rows);
}

/**
 * The ports the routing mesh publishes for a service, as docker lists them: `*:8080->80/tcp`. The allocated ports
 * when there are (a port published without a number has one only then); host-mode ports are the tasks' own.
 */
export function ingressPorts(s: Service): string {
  const ports: PortConfig[] = s.endpointPorts.length > 0 ? s.endpointPorts : (s.spec?.endpoint?.ports ?? []);
  return ports
    .filter((p) => p.publishMode !== PortConfig_PublishMode.PUBLISH_MODE_HOST && p.publishedPort !== 0)
    .map((p) => `*:${p.publishedPort}->${p.targetPort}/${protocolWord(p.protocol)}`)
    .join(', ');
}

export function protocolWord(protocol: PortConfig_Protocol): string {
  return protocol === PortConfig_Protocol.PROTOCOL_UNSPECIFIED
    ? 'tcp'
    : (PortConfig_Protocol[protocol] ?? 'PROTOCOL_TCP').replace('PROTOCOL_', '').toLowerCase();
}
