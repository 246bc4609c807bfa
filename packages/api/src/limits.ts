/** `service logs --tail`: the most lines read back per task (the managers refuse more). */
export const MAX_LOG_TAIL = 10_000;
