"""Enrolment: seats against class capacity and programme quota, waiting lists."""
