/**
 * Compose keys that mean something on one Docker host but that a cluster cannot honour. They are accepted, so
 * the same file still runs under Docker Compose, and each use gets a warning that says what happens instead.
 */
const RESOURCES = 'ignored on a cluster: set deploy.resources.limits / reservations instead';

export const UNSUPPORTED_SERVICE_KEYS: Record<string, string> = {
  build: 'ignored: a cluster pulls images from a registry; build and push the image, then set image:',
  container_name: 'ignored: a task is named <stack>_<service>.<slot>.<id>; reach it by its service name instead',
  links: 'ignored: services on the same network already find each other by name',
  external_links: 'ignored: attach the services to a shared network instead',
  devices: 'ignored: devices are not passed to tasks on a cluster',
  uts: 'ignored: tasks always get their own UTS namespace; set hostname: instead',
  userns_mode: 'ignored: user namespaces are set per node, not per service',
  cgroup: 'ignored: tasks always get their own cgroup namespace',
  cgroup_parent: 'ignored: the agent places tasks in its own cgroup',
  pull_policy: 'ignored: an agent pulls an image when it does not have the exact reference',
  pull_refresh_after: 'ignored: an agent pulls an image when it does not have the exact reference',
  scale: 'ignored: set deploy.replicas instead',
  mem_limit: RESOURCES,
  memswap_limit: RESOURCES,
  mem_reservation: RESOURCES,
  mem_swappiness: RESOURCES,
  cpus: RESOURCES,
  cpu_count: RESOURCES,
  cpu_percent: RESOURCES,
  cpu_shares: RESOURCES,
  cpu_quota: RESOURCES,
  cpu_period: RESOURCES,
  cpu_rt_runtime: RESOURCES,
  cpu_rt_period: RESOURCES,
  cpuset: RESOURCES,
  pids_limit: 'ignored on a cluster: set deploy.resources.limits.pids instead',
  oom_kill_disable: RESOURCES,
  oom_score_adj: RESOURCES,
  shm_size: 'ignored: mount a tmpfs at /dev/shm with a size instead',
  blkio_config: RESOURCES,
  dns: 'ignored: tasks use the node resolver that serves service names',
  dns_opt: 'ignored: tasks use the node resolver that serves service names',
  dns_search: 'ignored: tasks use the node resolver that serves service names',
  extra_hosts: 'ignored: publish names through services and network aliases instead',
  domainname: 'ignored: set hostname: instead',
  mac_address: 'ignored: the overlay network assigns addresses',
  stdin_open: 'ignored: tasks have no terminal attached',
  tty: 'ignored: tasks have no terminal attached',
  isolation: 'ignored: tasks run under runc',
  runtime: 'ignored: tasks run under runc',
  platform: 'ignored: constrain nodes with deploy.placement.constraints: [node.platform.arch==…] instead',
  storage_opt: 'ignored: storage options are set per node',
  group_add: 'ignored: set user: with the group instead',
  annotations: 'ignored: use labels instead',
  attach: 'ignored: read task output with `flotilla service logs`',
  credential_spec: 'ignored: credential specs apply to Windows only',
  device_cgroup_rules: 'ignored: devices are not passed to tasks on a cluster',
  develop: 'ignored: development watch settings apply to Docker Compose only',
  gpus: 'ignored: GPUs are not scheduled yet',
  models: 'ignored: models apply to Docker Compose only',
  post_start: 'ignored: lifecycle hooks are not run on a cluster',
  pre_start: "ignored: init containers are not run on a cluster; run the step in the image's entrypoint instead",
  pre_stop: 'ignored: set stop_signal and stop_grace_period instead',
  provider: 'ignored: providers apply to Docker Compose only',
  use_api_socket: 'ignored: tasks get no access to a container engine socket',
};

export const UNSUPPORTED_DEPLOY_KEYS: Record<string, string> = {};

export const UNSUPPORTED_RESERVATION_KEYS: Record<string, string> = {
  devices: 'ignored: device reservations (GPUs) are not scheduled yet',
  generic_resources: 'ignored: generic resources are not scheduled yet',
};

const TEMPLATE_DRIVER = 'ignored: the content is stored as it is, not rendered as a template';

/** Keys of a top-level config (configs:) a cluster cannot honour. */
export const UNSUPPORTED_CONFIG_KEYS: Record<string, string> = {
  template_driver: TEMPLATE_DRIVER,
};

/** Keys of a top-level secret (secrets:) a cluster cannot honour. */
export const UNSUPPORTED_SECRET_KEYS: Record<string, string> = {
  template_driver: TEMPLATE_DRIVER,
  driver: 'ignored: secrets are kept by the managers, encrypted at rest; secret store plugins are not supported',
  driver_opts: 'ignored: secrets are kept by the managers, encrypted at rest; secret store plugins are not supported',
};

/** Top-level keys a cluster cannot honour. */
export const UNSUPPORTED_TOP_LEVEL_KEYS: Record<string, string> = {
  models: 'ignored: AI models apply to Docker Compose only',
};
