import type { ServiceSummary } from '@flotilla/api';
import { dockerService } from './output/docker-json.js';
import { rawServiceSummary, renderListing } from './output/listing.js';
import { table } from './table.js';
import { shortImage } from './task-table.js';

/**
 * Services as `docker service ls` and `docker stack services` list them: ID NAME MODE REPLICAS IMAGE PORTS. The
 * table's cells are the `--format json` row's fields (docker-json.ts makes the row), cut as docker's table cuts
 * them: a 12-character ID, a pinned image's digest shortened.
 */
export function formatServiceListing(services: ServiceSummary[], format: string, quiet = false): string {
  const rows = () => services.map(dockerService);
  return renderListing({
    format,
    kind: 'service',
    rows,
    raw: () => services.map(rawServiceSummary),
    table: () =>
      quiet
        ? rows()
            .map((r) => `${r.ID}\n`)
            .join('')
        : table(
            ['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'],
            rows().map((r) => [r.ID.slice(0, 12), r.Name, r.Mode, r.Replicas, shortImage(r.Image), r.Ports]),
          ),
  });
}
