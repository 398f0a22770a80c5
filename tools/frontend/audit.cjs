// The graphql-http audit of GraphQL over HTTP conformance, against a running server:
//   CARNET_FRONTEND_TOOLS=<install.sh's folder> node audit.cjs http://127.0.0.1:PORT/graphql
// Prints one line per audit (`ok|warn|error ID name: reason`), then a summary line
// `{"ok":N,"notice":N,"warn":N,"error":N}`. Exit code 0 whatever the results: the caller judges.
const path = require('path');
const tools = process.env.CARNET_FRONTEND_TOOLS;
if (!tools) throw new Error('CARNET_FRONTEND_TOOLS must name the folder install.sh filled');
const load = require('module').createRequire(path.join(tools, 'package.json'));
const { auditServer } = load('graphql-http');

(async () => {
  const url = process.argv[2];
  const results = await auditServer({ url });
  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  for (const result of results) {
    counts[result.status] += 1;
    const reason = result.status === 'ok' ? '' : `: ${result.reason}`;
    console.log(`${result.status} ${result.id} ${result.name}${reason}`);
  }
  console.log(JSON.stringify(counts));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
