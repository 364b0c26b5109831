// Drives terapi with Nango's Node client, as an application written for Nango would;
// prints what it saw as one JSON document for the Rust test to check.
import { Nango } from '@nangohq/node';

const { TERAPI_URL, TERAPI_SECRET, KEY, CONNECTION, SYNC, MODEL, SIGNING_KEY, WEBHOOK_BODY, WEBHOOK_SIGNATURE } =
    process.env;
const nango = new Nango({ host: TERAPI_URL, secretKey: TERAPI_SECRET, webhookSigningKey: SIGNING_KEY });
const out = {};

await nango.triggerSync(KEY, [SYNC], CONNECTION);
const deadline = Date.now() + 60_000;
for (;;) {
    const status = await nango.syncStatus(KEY, [SYNC], CONNECTION);
    const sync = status.syncs[0];
    if (sync.status === 'SUCCESS' && sync.finishedAt) {
        out.status = sync;
        break;
    }
    if (Date.now() > deadline) throw new Error(`sync never succeeded: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
}

const ids = [];
let cursor = null;
let pages = 0;
do {
    const page = await nango.listRecords({ providerConfigKey: KEY, connectionId: CONNECTION, model: MODEL, limit: 7, cursor });
    pages += 1;
    for (const record of page.records) {
        ids.push(record.id);
        out.lastAction = record._nango_metadata.last_action;
    }
    cursor = page.next_cursor;
} while (cursor);
out.ids = ids;
out.pages = pages;

const some = await nango.listRecords({ providerConfigKey: KEY, connectionId: CONNECTION, model: MODEL, ids: ['n1', 'n2'] });
out.byIds = some.records.map((record) => record.id);

try {
    await nango.listRecords({ providerConfigKey: KEY, connectionId: CONNECTION, model: 'Letter' });
    out.unknownModel = 'accepted';
} catch (error) {
    out.unknownModel = { status: error.response?.status, message: error.response?.data?.error?.message };
}

out.webhookVerified = nango.verifyIncomingWebhookRequest(WEBHOOK_BODY, { 'X-Nango-Hmac-Sha256': WEBHOOK_SIGNATURE });
out.forgedRejected = !nango.verifyIncomingWebhookRequest(WEBHOOK_BODY + ' ', { 'X-Nango-Hmac-Sha256': WEBHOOK_SIGNATURE });
console.log(JSON.stringify(out));
