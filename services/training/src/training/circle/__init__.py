"""The 30-minute vocational training circle (30分钟职业技能培训圈)."""
