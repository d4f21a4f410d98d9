# Read by devhost/replay.py (the SDK's view of an open task); see Action.pyi.
from azure.durable_functions.models.actions.Action import Action

class CallActivityAction(Action):
    function_name: str
    input_: str  # df_dumps(input_): the JSON the extension is sent
