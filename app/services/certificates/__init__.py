"""Certificates of volunteer service (志愿服务记录证明): content, flow, publicity, PDF and public verification.

`flow` holds the life of a certificate, `content` the four parts of the 2015 意见, `publicity` the
regions' rules and working days, `pdf` and `tasks` the background PDF, `verification` the public page's rules.
"""
