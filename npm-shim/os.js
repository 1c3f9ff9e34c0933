// node:os: a fixed, host-independent view. Functions never learn about the machine they run
// on (no host names, interfaces, users or load): what they get describes the sandbox.
const os = {
  EOL: "\n",
  platform: () => "linux",
  type: () => "Linux",
  arch: () => "x64",
  release: () => "chatfn",
  hostname: () => "chatfn",
  homedir: () => "/",
  tmpdir: () => "/tmp",
  endianness: () => "LE",
  cpus: () => [],
  availableParallelism: () => 1,
  totalmem: () => 0,
  freemem: () => 0,
  uptime: () => 0,
  loadavg: () => [0, 0, 0],
  networkInterfaces: () => ({}),
  userInfo: () => ({ username: "chatfn", uid: -1, gid: -1, shell: null, homedir: "/" }),
  constants: { signals: {}, errno: {} },
};

export default os;
