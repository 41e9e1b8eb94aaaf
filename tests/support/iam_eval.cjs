// Test-only: evaluates IAM requests against identity policies with @cloud-copilot/iam-simulate
// (installed by `make node` into .cache/node-iam). Reads a JSON list of
// {policy, action, resource, account, context} on stdin; prints a JSON list of
// {decision, ignored, errors} in the same order. ignoredContextKeys lists keys the evaluator
// does not know for that action (a test must not rely on one).
const { createRequire } = require("node:module");
const fromCache = createRequire(`${process.env.DDBPIPE_IAM_EVAL_DIR}/package.json`);
const { runSimulation } = fromCache("@cloud-copilot/iam-simulate");

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const requests = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const out = [];
  for (const r of requests) {
    const principal = `arn:aws:iam::${r.account}:user/ddbpipe-test`;
    const result = await runSimulation({
      request: {
        principal,
        action: r.action,
        resource: { resource: r.resource, accountId: r.account },
        contextVariables: r.context || {},
      },
      identityPolicies: [{ name: "under-test", policy: r.policy }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    }, {});
    if (result.resultType === "error") {
      out.push({ decision: "error", ignored: [], errors: result.errors });
    } else if (result.resultType === "single") {
      out.push({ decision: result.overallResult, ignored: result.result.ignoredContextKeys || [],
                 errors: null });
    } else {
      out.push({ decision: result.overallResult, ignored: [], errors: null });
    }
  }
  process.stdout.write(JSON.stringify(out));
}
main().catch((err) => { console.error(err); process.exit(2); });
