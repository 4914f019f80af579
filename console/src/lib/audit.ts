// Chinese names of the audit log's actions and object types (the API keeps stable English codes).
export const ACTION_LABELS: Record<string, string> = {
  'account.deleted': '注销账号', 'account.disabled': '停用账号', 'account.enabled': '启用账号',
  'activity.created': '创建活动', 'activity.updated': '修改活动', 'activity.published': '发布活动',
  'activity.cancelled': '取消活动', 'activity.evaluated': '评价活动',
  'calendar.local_day_added': '添加本地节庆日', 'calendar.local_day_removed': '删除本地节庆日',
  'campaign.created': '创建活动计划', 'campaign.activity_linked': '关联活动到计划', 'campaign.activity_unlinked': '取消关联活动',
  'console.login': '登录管理后台',
  'correction.requested': '申请更正时长', 'correction.decided': '处理更正申请',
  'organization.applied': '申请成立组织', 'organization.approved': '通过组织申请', 'organization.rejected': '驳回组织申请',
  'organization.updated': '修改组织资料', 'organization.organizer_appointed': '任命组织者', 'organization.organizer_removed': '撤销组织者',
  'organization.region_permitted': '授权跨区开展活动', 'organization.region_permit_revoked': '撤销跨区授权',
  'region.added': '新增地区', 'region.renamed': '地区改名', 'region.retired': '撤销地区', 'region.population_set': '设置常住人口',
  'region.admin_appointed': '任命管理员', 'region.admin_removed': '撤销管理员',
  'service_record.corrected': '更正服务记录', 'service_records.confirmed': '确认服务记录',
  'signup.applied': '报名活动', 'signup.cancelled': '取消报名',
  'team.created': '创建队伍', 'team.updated': '修改队伍', 'team.captain_appointed': '任命队长', 'team.captain_dismissed': '免去队长',
  'team.group_robot_set': '连接群机器人', 'team.group_robot_removed': '解除群机器人',
  'team.member_approved': '同意入队', 'team.member_rejected': '拒绝入队', 'team.member_invited': '邀请入队', 'team.member_removed': '移出队伍',
  'volunteer.registered': '志愿者注册', 'volunteer.updated': '修改志愿者资料', 'volunteer.approved': '通过志愿者注册',
  'volunteer.rejected': '驳回志愿者注册', 'volunteer.suspended': '暂停志愿者', 'volunteer.reinstated': '恢复志愿者',
  'volunteer.mobile_revealed': '查看完整手机号', 'volunteer.exported': '导出志愿者名录',
}

export const TARGET_LABELS: Record<string, string> = {
  account: '账号', activity: '活动', calendar: '节庆日', campaign: '活动计划', correction: '更正申请', organization: '组织',
  region: '地区', service_record: '服务记录', signup: '报名', team: '队伍', volunteer: '志愿者', announcement: '通知公告',
}

export function actionLabel(action: string): string {
  return ACTION_LABELS[action] ?? action
}

export function targetLabel(type: string): string {
  return TARGET_LABELS[type] ?? type
}

/** Filter choices: one per object type ("organization." = all of it) and then each action. */
export function actionOptions(): { label: string; options: { value: string; label: string }[] }[] {
  const groups = new Map<string, { value: string; label: string }[]>()
  for (const [action, label] of Object.entries(ACTION_LABELS)) {
    const type = action.split('.')[0]
    if (!groups.has(type)) groups.set(type, [{ value: `${type}.`, label: `${targetLabel(type.replace(/s$/, ''))}：全部` }])
    groups.get(type)!.push({ value: action, label })
  }
  return [...groups.entries()].map(([type, options]) => ({ label: targetLabel(type.replace(/s$/, '')), options }))
}

const DETAIL_KEYS: Record<string, string> = {
  reason: '原因', name: '名称', old_name: '原名称', new_name: '新名称', year: '年份', population: '常住人口',
  decision: '决定', volunteer_id: '志愿者', account_id: '账号', count: '数量', rows: '行数', filters: '筛选条件',
  title: '标题', status: '状态', minutes: '分钟',
}

/** The entry's detail as short Chinese "key：value" parts (unknown keys keep their names). */
export function detailText(detail: Record<string, unknown> | null | undefined): string {
  if (!detail) return ''
  return Object.entries(detail)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${DETAIL_KEYS[k] ?? k}：${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join('；')
}
