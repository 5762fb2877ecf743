"""Chinese name pools for the demo city (people, places, roads, firms).

Everything drawn from here is invented; organisation names carry the 示范市 prefix so that no record can be
mistaken for a real one.
"""

from __future__ import annotations

import numpy as np

from data.demo.frame import zh_number

# Common surnames with rough relative frequencies (the big five cover about a third of the population).
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_SURNAME_WEIGHTS = np.array([7.1, 7.0, 6.7, 5.3, 4.6] + [2.0] * 15 + [1.0] * 30 + [0.5] * (len(_SURNAMES) - 50))
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏建国志文辉斌宇浩凯健俊帆帅旭宁欣雪婷琳颖佳"
    "晨阳瑞博昊天一鑫子轩梓涵雨思诗嘉怡欢晓倩慧亮峰海波成林荣春燕云飞翔彬金龙德清伦立新宏兴安泽坤雅璐瑶"
)
PLACE_WORDS = (
    "长乐 永宁 安和 太平 清泉 东山 西陵 南塘 北渚 青石 白沙 金桥 银杏 柳营 桃源 梅岗 竹林 松涛 枫桥 荷塘 "
    "龙泉 凤岭 鹤鸣 鹿苑 燕子 双河 三湾 四方 五里 六桥 七星 八卦 九华 十里 新村 旧镇 高桥 低塘 红星 "
    "光明 朝阳 向阳 晨光 星火 丰收 富民 兴隆 和平 团结 胜利 幸福 友谊 建设 前进 振兴 文昌 崇文 尚德 "
    "广福 宝林 灵山 秀水 碧波 翠屏 凌云 望江 临湖 观澜 听涛 沿江 滨河 云溪 杏坛 荷花 芦荡 花港 "
    "石桥 柏庄 槐荫 榆林 栗园 橘洲 菱湖 苇塘 鹭洲 雁回 鸣凤 卧龙 盘石 金沙 玉泉 丹桂 紫藤 青溪 碧溪"
).split()
ROAD_WORDS = (
    "长江 黄河 中山 解放 人民 建设 胜利 和平 友谊 团结 光明 朝阳 新华 民主 复兴 振兴 繁荣 富强 文明 和谐 "
    "迎宾 凤凰 龙腾 虎跃 启明 紫霞 栖凤 清淮 雨露 江安 浦云 合欢 高远 溧源 汉阳 广源 海上 北辰 天津 "
    "学府 科技 创新 创业 智慧 文化 体育 商贸 金融 工业 化工 港口 码头 物流 机场 高铁 站前 滨江 沿河 "
    "湖滨 翠湖 月湖 莲花 荷花 桂花 梅花 樱花 海棠 玉兰 紫荆 银杏 梧桐 香樟 枫林 松林 竹园 桃园 梨园 "
    "杏林 丰收 富民 兴农 宏图 锦绣 吉祥 如意 平安 安康 福寿 永乐 长宁 永安 太平 清凉 天元 地杰 星辰 "
    "明月 东风 西风 南风 北风 春晖 夏荷 秋实 冬青 晨曦 晓庄 暮云 彩虹 云锦 丝绸 瓷都 茶亭 酒坊 书院 "
    "文昌 武定 崇礼 尚义 明德 至善 厚德 博爱 惠民 利民 安民 便民 聚福 集庆 承恩 宝善 积善 乐善 怀德 "
    "双龙 金鹰 银河 天河 星河 清溪 石门 铁心 铜山 锡山 银山 金山 玉山 青山 翠屏 凌霄 飞虹 长虹 彩霞"
).split()
FIRM_WORDS = (
    "恒达 华盛 泰和 鑫源 瑞丰 宏祥 安信 德隆 昌兴 利通 宇海 金嘉 润远 明新 天永 中和 佳诚 博创 合力 科鼎 "
    "凯龙 腾锦 富益 康宁 华泰 永盛 东方 远大 联合 长城 新星 海诚 金桥 银河 天成 宏达 兴业 万通 恒通 汇丰 "
    "鼎盛 恒信 诚信 中联 国泰 嘉禾 天元 宝丰 金鹏 瑞祥 振华 华兴 新源 博远 永固 晶华 蓝天 绿源 红日 紫光 "
    "信达 捷安 众成 同创 九洲 四海 三元 双星 百川 千禧 万隆 盛世 鸿运 锦程 卓越 精诚 金石 宏宇 新纪元 "
    "恒力 正大 中天 天华 华力 力拓 拓新 新锐 锐达 达远 远航 航宇 宇通 通达 达信 信诚 诚德 德润 润华 华安"
).split()
RESIDENTIAL_WORDS = (
    "翠湖 锦绣 金色 阳光 幸福 和谐 紫金 银杏 枫林 梧桐 香樟 碧水 兰亭 雅居 龙湾 凤凰 丽景 御景 世纪 "
    "时代 盛世 中央 滨江 湖畔 山水 绿洲 春天 名都 华府 华庭 尚城 新城 悦府 学府 书香 康桥 怡景 瑞景"
).split()
RESIDENTIAL_SUFFIX = ("小区", "花园", "苑", "新村", "家园", "公寓", "雅苑")


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    """n personal names: a frequency-weighted surname and a one- or two-character given name."""
    p = _SURNAME_WEIGHTS / _SURNAME_WEIGHTS.sum()
    surnames = rng.choice(len(_SURNAMES), n, p=p)
    two = rng.random(n) < 0.7
    g1, g2 = rng.integers(0, len(_GIVEN), n), rng.integers(0, len(_GIVEN), n)
    return [_SURNAMES[s] + _GIVEN[a] + (_GIVEN[b] if t else "") for s, a, b, t in zip(surnames, g1, g2, two,
                                                                                       strict=True)]


def distinct_words(rng: np.random.Generator, pool: list[str], n: int) -> list[str]:
    """n different words from ``pool`` (then 长江二, 长江三 … once the pool runs out)."""
    order = rng.permutation(len(pool))
    return [pool[order[i % len(pool)]] + ("" if i < len(pool) else zh_number(i // len(pool) + 1)) for i in range(n)]


def short_district(name: str) -> str:
    """示范市临江区 → 临江区."""
    return name.removeprefix("示范市")
