// Runs the body of an actions/github-script step against a fake octokit and
// prints the calls it made as JSON, so a test can check the comment and issue
// logic of the example workflows without GitHub.
// usage: node github_script_harness.js SCRIPT_FILE SCENARIO_JSON  (the step's env in process.env)
'use strict';
const fs = require('fs');

const [scriptFile, scenarioFile] = process.argv.slice(2);
const scenario = JSON.parse(fs.readFileSync(scenarioFile, 'utf8'));
const calls = [];
const record = (name) => async (args) => { calls.push({ call: name, ...args }); return { data: { number: 99 } }; };

const github = {
  rest: {
    issues: {
      listComments: 'listComments',
      listForRepo: 'listForRepo',
      createComment: record('createComment'),
      updateComment: record('updateComment'),
      create: record('create'),
      update: record('update'),
      createLabel: record('createLabel'),
      getLabel: async (args) => {
        if (!(scenario.labels || []).includes(args.name)) {
          const error = new Error('Not Found');
          error.status = 404;
          throw error;
        }
        return { data: { name: args.name } };
      },
    },
  },
  paginate: async (method, args) => {
    if (method === 'listComments') return scenario.comments || [];
    return (scenario.issues || []).filter((issue) => issue.state === args.state && issue.labels.includes(args.labels));
  },
};
const context = {
  repo: { owner: 'team', repo: 'llm-config' },
  issue: { number: 5 },
  sha: 'fedcba9876543210',
  payload: { pull_request: { head: { sha: '0123456789abcdef' } } },
};
const core = {
  info: (message) => calls.push({ call: 'info', message }),
  notice: (message) => calls.push({ call: 'notice', message }),
};

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const run = new AsyncFunction('github', 'context', 'core', 'require', fs.readFileSync(scriptFile, 'utf8'));
run(github, context, core, require).then(
  () => process.stdout.write(JSON.stringify(calls)),
  (error) => { console.error(error); process.exit(1); },
);
