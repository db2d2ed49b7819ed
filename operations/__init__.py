"""One @deploy per concern, composed by deploy.py."""
