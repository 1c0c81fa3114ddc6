"""Live map updates: every committed change reaches every map that may see it, over WebSockets.

`publish()` (apps.live.publish; domain services reach it through apps.core.publish) is the only way in;
`LiveConsumer` (apps.live.consumer) is the only way out. The message protocol is declared in apps.live.messages.
"""
