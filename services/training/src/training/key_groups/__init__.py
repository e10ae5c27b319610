"""Key groups (重点群体, 愿培全培): memberships, willingness, coverage report."""
