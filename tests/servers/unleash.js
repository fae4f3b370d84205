// Starts a real Unleash server for the test suite (see tests/servers.py), configured from the environment:
//   DATABASE_URL          postgres://user@host:port/db (a fresh database: Unleash migrates it on start)
//   HTTP_PORT             port to listen on, 0 for any free one
//   INIT_ADMIN_API_TOKENS / INIT_BACKEND_API_TOKENS   "*:*.<secret>" tokens made up by the test run
//   LAUNCHDESK_PORT_FILE  where to write the port actually listened on, once listening
// Unleash reads DATABASE_URL itself. It listens on 127.0.0.1 only and never calls out (no version check, no telemetry).
'use strict';

const fs = require('fs');
const { start } = require('unleash-server');

const parentPid = process.ppid;

async function main() {
  const unleash = await start({
    server: { host: '127.0.0.1', port: Number(process.env.HTTP_PORT || 0), gracefulShutdownEnable: false },
    versionCheck: { enable: false },
    telemetry: false,
    logLevel: process.env.LOG_LEVEL || 'warn',
  });
  const port = unleash.server.address().port;
  // Written to a temporary name and renamed, so the test run never reads half a number.
  const portFile = process.env.LAUNCHDESK_PORT_FILE;
  fs.writeFileSync(`${portFile}.tmp`, String(port));
  fs.renameSync(`${portFile}.tmp`, portFile);
  console.log(`unleash test server listening on 127.0.0.1:${port}`);

  // A test run killed hard cannot stop us: leave when our parent is gone instead of lingering.
  setInterval(() => {
    if (process.ppid !== parentPid) process.exit(0);
  }, 1000).unref();
  const stop = () => unleash.stop().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error('unleash test server failed to start:', err);
  process.exit(1);
});
