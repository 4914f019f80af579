"""A frozen bulletin as an XLSX workbook (xlsxwriter, in memory), built from its stored content only.

Sheets: 总览 (summary, the node's own figures with month-on-month and year-on-year changes),
排名 (one row per child: rank, score, flag and every indicator, each cell coloured by its status),
指标明细 (one row per child and indicator with parts, target and changes: filterable), 数据更正
(the previous bulletin's figures that changed) and 说明 (data notes and definitions). Colours are
the cells' own fills (Excel's green/yellow/red), so they read the same in every spreadsheet program.
"""

from __future__ import annotations

import io
from typing import Any

import xlsxwriter

from app.services.bulletins.content import format_change, format_value
from app.services.bulletins.scoring import STATUS_LABELS
from app.services.spreadsheets import _safe as safe_text

FILLS = {"green": "#C6EFCE", "yellow": "#FFEB9C", "red": "#FFC7CE"}
FLAG_LABELS = {"red": "红旗", "yellow": "黄旗（后三名）"}


class _Book:
    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.book = xlsxwriter.Workbook(self.buffer, {"in_memory": True, "strings_to_formulas": False,
                                                      "strings_to_urls": False, "strings_to_numbers": False})
        self.bold = self.book.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True})
        self.title = self.book.add_format({"bold": True, "font_size": 14})
        self.wrap = self.book.add_format({"text_wrap": True, "valign": "top"})
        self.plain = self.book.add_format({"border": 1})
        self.status = {key: self.book.add_format({"bg_color": color, "border": 1}) for key, color in FILLS.items()}

    def write(self, sheet: Any, row: int, column: int, value: Any, cell_format: Any = None) -> None:
        cell_format = cell_format or self.plain
        if value is None:
            sheet.write_blank(row, column, None, cell_format)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            sheet.write_number(row, column, value, cell_format)
        else:
            sheet.write_string(row, column, safe_text(str(value)), cell_format)

    def header(self, sheet: Any, row: int, titles: list[tuple[str, int]]) -> None:
        for column, (title, width) in enumerate(titles):
            sheet.write_string(row, column, title, self.bold)
            sheet.set_column(column, column, width)

    def close(self) -> bytes:
        self.book.close()
        return self.buffer.getvalue()


def workbook(content: dict[str, Any]) -> bytes:
    """The XLSX file of a bulletin's content."""
    out = _Book()
    _overview(out, content)
    _ranking(out, content)
    _details(out, content)
    _corrections(out, content)
    _notes(out, content)
    return out.close()


def _overview(out: _Book, content: dict[str, Any]) -> None:
    sheet = out.book.add_worksheet("总览")
    sheet.write_string(0, 0, safe_text(content["title"]), out.title)
    sheet.write_string(1, 0, f"生成时间：{content['generated_on']}（数据已冻结，此后的更正在下期通报中列出）")
    sheet.merge_range(2, 0, 2, 7, safe_text(content["summary"]), out.wrap)
    sheet.set_row(2, 90)
    out.header(sheet, 4, [("指标", 16), ("本月", 12), ("目标", 10), ("状态", 10), ("上月", 12), ("环比", 14),
                          ("去年同期", 12), ("同比", 14)])
    for index, row in enumerate(content["total"]["figures"], start=5):
        unit = row["unit"]
        fill = out.status.get(row["status"])
        out.write(sheet, index, 0, row["label"])
        out.write(sheet, index, 1, format_value(row["value"], unit), fill)
        out.write(sheet, index, 2, format_value(row["target"], unit))
        out.write(sheet, index, 3, STATUS_LABELS[row["status"]], fill)
        out.write(sheet, index, 4, format_value(row["previous"], unit))
        out.write(sheet, index, 5, format_change(row["mom"], unit))
        out.write(sheet, index, 6, format_value(row["last_year"], unit))
        out.write(sheet, index, 7, format_change(row["yoy"], unit))
    footer = 6 + len(content["total"]["figures"])
    sheet.write_string(footer, 0, "制表人：")
    sheet.write_string(footer, 3, "审核人：")
    sheet.write_string(footer, 6, "（盖章）")


def _ranking(out: _Book, content: dict[str, Any]) -> None:
    sheet = out.book.add_worksheet("排名")
    indicators = content["indicators"]
    out.header(sheet, 0, [("名次", 6), ("单位", 16), ("综合得分", 10), ("较上月", 10), ("旗帜", 14)]
               + [(i["label"], 12) for i in indicators] + [("未培训单位", 24), ("月末后补录记录", 14)])
    by_id = {table["region_id"]: table for table in content["children"]}
    ordered = [by_id[item["region_id"]] for item in content["ranking"]]
    ordered += [table for table in content["children"] if table["rank"] is None]
    for index, table in enumerate(ordered, start=1):
        out.write(sheet, index, 0, table["rank"] if table["rank"] is not None else "—")
        out.write(sheet, index, 1, table["name"])
        out.write(sheet, index, 2, None if table["score"] is None else round(table["score"] * 100, 1))
        out.write(sheet, index, 3, None if table["score_change"] is None else round(table["score_change"] * 100, 1))
        out.write(sheet, index, 4, FLAG_LABELS.get(table["flag"] or "", ""))
        for column, row in enumerate(table["figures"], start=5):
            out.write(sheet, index, column, format_value(row["value"], row["unit"]), out.status.get(row["status"]))
        training = table["training"]
        more = "" if training["untrained_count"] <= len(training["untrained"]) else f"等 {training['untrained_count']} 个"
        out.write(sheet, index, 5 + len(indicators), "、".join(training["untrained"]) + more)
        out.write(sheet, index, 6 + len(indicators), table["late_records"]["records"])
    sheet.freeze_panes(1, 2)
    sheet.write_string(len(ordered) + 2, 0, "综合得分：各适用指标完成度（实际值 ÷ 目标，最高 100）的平均值；同分按注册率排序。")


def _details(out: _Book, content: dict[str, Any]) -> None:
    sheet = out.book.add_worksheet("指标明细")
    out.header(sheet, 0, [("单位", 16), ("指标", 16), ("本月", 10), ("分子", 10), ("分母", 10), ("目标", 10),
                          ("状态", 8), ("上月", 10), ("环比", 14), ("去年同期", 10), ("同比", 14)])
    index = 1
    for table in content["children"]:
        for row in table["figures"]:
            unit = row["unit"]
            fill = out.status.get(row["status"])
            values = (table["name"], row["label"], format_value(row["value"], unit), row["numerator"],
                      row["denominator"], format_value(row["target"], unit), STATUS_LABELS[row["status"]],
                      format_value(row["previous"], unit), format_change(row["mom"], unit),
                      format_value(row["last_year"], unit), format_change(row["yoy"], unit))
            for column, value in enumerate(values):
                out.write(sheet, index, column, value, fill if column in (2, 6) else None)
            index += 1
    sheet.autofilter(0, 0, max(index - 1, 1), 10)
    sheet.freeze_panes(1, 0)


def _corrections(out: _Book, content: dict[str, Any]) -> None:
    sheet = out.book.add_worksheet("数据更正")
    corrections = content.get("corrections")
    if not corrections:
        sheet.write_string(0, 0, "上期没有已冻结的通报，无数据更正。")
        return
    sheet.write_string(0, 0, f"上期数据更正：{corrections['label']}通报冻结后，以下数据因补录、更正或志愿者变动而改变")
    out.header(sheet, 1, [("单位", 16), ("指标", 16), ("原数值", 12), ("现数值", 12), ("原分子/分母", 16), ("现分子/分母", 16)])
    for index, item in enumerate(corrections["items"], start=2):
        unit = item["unit"]
        values = (item["name"], item["label"], format_value(item["was"], unit), format_value(item["now"], unit),
                  f"{item['was_numerator']}/{item['was_denominator']}", f"{item['now_numerator']}/{item['now_denominator']}")
        for column, value in enumerate(values):
            out.write(sheet, index, column, value)
    if not corrections["items"]:
        sheet.write_string(2, 0, "上期数据无变化。")


def _notes(out: _Book, content: dict[str, Any]) -> None:
    sheet = out.book.add_worksheet("说明")
    sheet.set_column(0, 0, 18)
    sheet.set_column(1, 1, 90)
    sheet.write_string(0, 0, "数据说明", out.title)
    row = 1
    for note in content["notes"]:
        sheet.write_string(row, 1, safe_text(note), out.wrap)
        row += 1
    row += 1
    out.header(sheet, row, [("指标", 18), ("口径", 90)])
    for indicator in content["indicators"]:
        row += 1
        out.write(sheet, row, 0, indicator["label"])
        out.write(sheet, row, 1, indicator["definition"])
