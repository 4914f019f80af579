"""Star volunteers (星级志愿者): rules per region (`rules`), qualifying hours (`hours`), the flow from
application to award and revocation (`flow`), and the jobs' passes (`jobs`)."""
