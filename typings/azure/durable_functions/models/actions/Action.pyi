# The SDK's action classes are internals the app never touches; devhost/replay.py reads them to check that
# the task the extension would schedule is the task the SDK has open (see its docstring). Only what it
# reads is declared.
from abc import ABC

class Action(ABC): ...
