"""motiongen studio: the local web server and page (motiongen serve)."""
