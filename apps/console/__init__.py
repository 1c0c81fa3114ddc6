"""The operator's screens: the map page and the camera wall (views and routes; the templates and ES
modules are in frontend/). The top floor: it may import any app, and no app imports it."""
