"""What the reference peers share: the callback token and the text they answer with."""

import os

# Same default as `[wechat.official] token` in config.example.toml; the benchmark passes it in.
TOKEN = os.environ.get("BENCH_WECHAT_TOKEN", "sim-official-token")

# About as long as the service's help text, so every peer renders a reply of similar size.
REPLY_TEXT = (
    "您好，这里是基准测试的参照机器人。可以发送以下指令：\n"
    "【帮助】查看本说明\n"
    "【我的信息】查看您的注册信息\n"
    "其他功能请使用小程序。"
)
REPLY_MARKER = "基准测试的参照机器人"
