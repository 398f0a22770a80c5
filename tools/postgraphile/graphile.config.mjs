// PostGraphile 5 on Carnet's database, for the HTTP benchmark's comparison (BENCHMARKS.md).
// install.sh copies this file next to node_modules; run.sh starts the server with it.
// Environment: DATABASE_URL (required), PORT (default 5055), HOST (default 127.0.0.1).
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { pgSmartTags } from "postgraphile/utils";

// Carnet's project read model (migrations/postgres/0002_project_read_model.sql): project and
// project_*; not projection_checkpoint.
const READ_MODEL = /^project(_|$)/;

const CarnetReadModelTags = pgSmartTags([
  // the read model has no foreign keys (it is rebuilt as a set): declare the one the
  // benchmark's query follows, so that a project lists its académies
  {
    kind: "class",
    match: "project_academie",
    tags: { foreignKey: "(project_id) references project (id)" },
  },
  // expose the read model only: no other table, no function
  { kind: "class", match: (c) => !READ_MODEL.test(c.relname), tags: { behavior: "-*" } },
  { kind: "procedure", match: () => true, tags: { behavior: "-*" } },
]);

const port = Number(process.env.PORT ?? 5055);

/** @type {GraphileConfig.Preset} */
export default {
  extends: [PostGraphileAmberPreset],
  plugins: [CarnetReadModelTags],
  pgServices: [
    makePgService({ connectionString: process.env.DATABASE_URL, schemas: ["public"] }),
  ],
  // read-only, as Carnet's query side
  schema: { defaultBehavior: "-insert -update -delete" },
  // production: no GraphiQL, no explain, no watch (PostGraphile 5 logs no queries; run.sh sets
  // NODE_ENV and GRAPHILE_ENV to production)
  grafserv: { host: process.env.HOST ?? "127.0.0.1", port, graphiql: false, watch: false },
  grafast: { explain: false },
};
