# Read by devhost/replay.py: the action behind a retry's timer or re-attempt; see Action.pyi.
from azure.durable_functions.models.actions.Action import Action

class NoOpAction(Action): ...
