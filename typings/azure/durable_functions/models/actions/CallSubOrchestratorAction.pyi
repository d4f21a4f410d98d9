# Read by devhost/replay.py (the SDK's view of an open task); see Action.pyi.
from azure.durable_functions.models.actions.Action import Action

class CallSubOrchestratorAction(Action):
    function_name: str
    _input: str  # df_dumps(_input): the JSON the extension is sent
