// Drives terapi with Nango's own Node client (@nangohq/node), as an application written
// for Nango would. Used by the e2e tests (tests/e2e/sync/nango_client.rs); prints one JSON
// document on stdout.
//
//   node client.mjs sync    — env NANGO_HOST, NANGO_SECRET_KEY, PROVIDER_CONFIG_KEY,
//                             CONNECTION_ID, SYNC, MODEL, PAGE_LIMIT: triggers the sync,
//                             waits for its status to be SUCCESS, then pages through the
//                             model's records PAGE_LIMIT at a time.
//   node client.mjs verify  — env NANGO_SECRET_KEY; stdin {"body": "...", "headers": {...}}:
//                             whether verifyIncomingWebhookRequest accepts the webhook.
import { Nango } from '@nangohq/node';
import { readFileSync } from 'node:fs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

async function sync() {
  const nango = new Nango({ host: env('NANGO_HOST'), secretKey: env('NANGO_SECRET_KEY') });
  const key = env('PROVIDER_CONFIG_KEY');
  const connection = env('CONNECTION_ID');
  const name = env('SYNC');
  await nango.triggerSync(key, [name], connection);
  let status;
  for (let attempt = 0; attempt < 300; attempt++) {
    const answer = await nango.syncStatus(key, [name], connection);
    status = answer.syncs.find((sync) => sync.name === name);
    if (status && status.status === 'SUCCESS' && status.finishedAt) break;
    if (status && status.status === 'ERROR') throw new Error(`sync failed: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const records = [];
  let pages = 0;
  let cursor;
  do {
    const page = await nango.listRecords({
      providerConfigKey: key,
      connectionId: connection,
      model: env('MODEL'),
      limit: Number(env('PAGE_LIMIT')),
      cursor,
    });
    pages += 1;
    records.push(...page.records);
    cursor = page.next_cursor;
  } while (cursor);
  const added = await nango.listRecords({
    providerConfigKey: key,
    connectionId: connection,
    model: env('MODEL'),
    filter: 'added',
    limit: 5,
  });
  return { status, pages, records, added_page: added.records.length };
}

function verify() {
  const nango = new Nango({ secretKey: env('NANGO_SECRET_KEY') });
  const { body, headers } = JSON.parse(readFileSync(0, 'utf8'));
  return { accepted: nango.verifyIncomingWebhookRequest(body, headers) };
}

const command = process.argv[2];
try {
  const result = command === 'sync' ? await sync() : command === 'verify' ? verify() : null;
  if (result === null) throw new Error(`unknown command ${command}; use sync or verify`);
  process.stdout.write(JSON.stringify(result));
} catch (error) {
  const detail = error.response ? ` (HTTP ${error.response.status}: ${JSON.stringify(error.response.data)})` : '';
  process.stderr.write(`${error.message}${detail}\n`);
  process.exit(1);
}
