# The demo's mTLS function: the same as foo, served only over https to clients with a certificate
# from the demo's CA (FUNC_TLS_* in its environment); the sqs-trigger delivers to it with one.
import json


def handler(event, context):
    ext = event['extensions']
    ce = ext.get('cloudevent') or {}
    print('DEMO-EVENT ' + json.dumps({
        'function': 'secure',
        'id': event['event-id'],
        'source': ce.get('source') or 'http',
        'type': event['event-type'],
        'topic': None,
        'data': event['data'],
    }, default=str), flush=True)
    return {'function': 'secure', 'received': event['data']}
