"""gemsql"""
