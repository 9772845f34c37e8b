namespace NfNet.Training.Images;

/// <summary>How <see cref="ResizeCenterCrop"/> resizes before cropping.</summary>
public enum EvalResizeMode
{
    /// <summary>Both sides to <c>floor(size / crop_pct)</c>, ignoring the aspect ratio: timm's <c>crop_mode='squash'</c>,
    /// which timm's <c>dm_nfnet_*</c> configurations use (and DeepMind's <c>resize_crop_32</c> with a fixed margin).</summary>
    Squash,
    /// <summary>The shorter side to <c>floor(size / crop_pct)</c>, keeping the aspect ratio (timm's and torchvision's
    /// classic <c>Resize(int)</c> + <c>CenterCrop</c>).</summary>
    ShorterSide,
}
