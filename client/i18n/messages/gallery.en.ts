/**
 * English strings of the Gallery and its detail view, loaded with those pages.
 * The source of this part's keys (zh-CN must have the same ones); `{name}` is filled in by `t`.
 */
export const messages = {
  'common.close': 'Close',
  'common.end': 'That’s everything.',
  'gallery.title': 'Gallery',
  'gallery.all': 'All',
  'gallery.images': 'Images',
  'gallery.videos': 'Videos',
  'gallery.empty': 'Nothing here yet.',
  'gallery.emptyAction': 'Create something',
  'gallery.usePrompt': 'Use this prompt',
  'gallery.animate': 'Animate this image',
  'gallery.deleteConfirm': 'Delete this {kind}? The file is removed for good.',
  'gallery.deleted': 'Deleted.',
  'gallery.openMissing': 'That item is not in your gallery (deleted, or hidden by the filter).',
  'gallery.prompt': 'Prompt',
  'gallery.model': 'Model',
  'gallery.size': 'Size',
  'gallery.duration': 'Duration',
  'gallery.date': 'Created',
  'gallery.fileSize': 'File size',
  'gallery.seed': 'Seed',
  'gallery.open': 'Open {kind} from {date}',
  'gallery.search': 'Search prompts',
  'gallery.searchPlaceholder': 'e.g. lantern',
  'gallery.noMatch': 'Nothing matches “{q}”.',
  'gallery.select': 'Select',
  'gallery.selectItem': 'Select {kind} from {date}',
  'gallery.selected': '{n} selected',
  'gallery.downloadSelected': 'Download ({n})',
  'gallery.deleteSelected': 'Delete ({n})',
  'gallery.deleteManyConfirm': 'Delete {n} items? The files are removed for good.',
  'gallery.clearSelection': 'Clear selection',
  'gallery.prev': 'Previous',
  'gallery.next': 'Next',
  'gallery.position': '{i} of {n}',
} as const;

export type Messages = Record<keyof typeof messages, string>;
