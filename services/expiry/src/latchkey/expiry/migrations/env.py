from latchkey.runtime.migrations import run_env

run_env()
