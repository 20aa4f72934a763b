from .core import Greeter
