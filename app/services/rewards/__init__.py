"""Rewards (积分换服务 / 积分换物质奖励): the catalogue (catalogue.py) and two-phase redemption (redemptions.py)."""
