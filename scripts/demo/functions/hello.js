/* global module, console */
// The demo's Node.js function: prints one line per event, with the event's id and source, which
// the demo reads back through `kubeless function logs`.
module.exports = {
  handler: (event) => {
    const ce = event.extensions.cloudevent || {};
    const req = event.extensions.request;
    const record = {
      function: 'hello',
      id: event['event-id'] || null,
      source: ce.source || `http ${req.method} ${req.headers.host}${req.url}`,
      type: event['event-type'] || null,
      topic: req.headers['event-topic'] || null,
      data: event.data,
    };
    console.log(`DEMO-EVENT ${JSON.stringify(record)}`);
    return { function: 'hello', received: event.data };
  },
};
