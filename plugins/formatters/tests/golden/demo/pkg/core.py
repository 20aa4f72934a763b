from .util import shout


class Greeter:
    """Greets."""

    def greet(self, name):
        return shout("hi " + name)
