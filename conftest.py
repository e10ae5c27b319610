"""Repository-wide pytest set-up.

pytest's importlib mode names test modules after their folders (`gateway/tests/conftest.py` becomes
`gateway.tests.conftest`) and creates stand-in parent modules for names it has not seen. Importing
the real packages first keeps a stand-in from hiding the package of the same name.
"""

import awards  # noqa: F401
import evaluation  # noqa: F401
import finance  # noqa: F401
import gateway  # noqa: F401
import indicators  # noqa: F401
import training  # noqa: F401
