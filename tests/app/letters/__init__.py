"""A user's own agent and its emulator plug-in, as docs/agents.md has a user write them: the letter
counter (``agent.py``, registered by ``AGENT_MODULES=tests.app.letters.agent``) and its behaviour
plug-in (``offline.py``, loaded by ``EMULATOR_ARGS="--behaviour tests.app.letters.offline"``). Neither is
bundled or registered anywhere else: tests/app/test_local_dev.py brings them in through those two
settings only."""
