# The demo's Python function (the talk's foo): prints one line per event, with the event's id and
# source, which the demo reads back through `kubeless function logs`.
import json


def handler(event, context):
    ext = event['extensions']
    ce = ext.get('cloudevent') or {}
    req = ext['request']
    print('DEMO-EVENT ' + json.dumps({
        'function': 'foo',
        'id': event['event-id'],
        'source': ce.get('source') or 'http %s %s%s' % (req.method, req.headers.get('Host', ''), req.path),
        'type': event['event-type'],
        'topic': req.headers.get('event-topic'),
        'data': event['data'],
    }, default=str), flush=True)
    return {'function': 'foo', 'received': event['data']}
